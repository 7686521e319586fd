"""CRM core: customers, contact points, relations, custom fields, interactions (the one
history table), tickets, notes, attachments, users, teams, roles, audit log, identification
and segmentation.

It imports nothing else of Switchboard's and knows nothing of Flask: every service takes a
SQLAlchemy ``Session`` and never commits; the caller owns the transaction.
"""
