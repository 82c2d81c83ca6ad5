"""Predicted times of arrival: the lanes deliveries are learned on
(``lanes``), the model fitted from them (``fit``), the published model as
an aggregate (``model``), the window a reader is shown (``window``) and how
shown ETAs are scored (``accuracy``)."""
