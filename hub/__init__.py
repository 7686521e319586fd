"""The hub: the single intake door, the interaction queue, routing, agent states, domain
events, outbound ports, and the composition root (``hub.app.create_app``), settings, CLI,
Celery app and REST API.

Outside ``hub.app`` (the composition root) it imports ``crm_core`` only.
"""
