"""What people see: the customer's tracking pages (templates, catalogues,
static assets as package data) and what they need to show places and times."""
