"""Notifications: the sender that delivers the outbox's messages (signed
webhooks to merchants, e-mail to customers) and records every attempt."""
