"""Channel adapters: one sub-package per channel (``twilio_voice``, ``email``, ``fax``,
``webforms``). Each turns what it receives into a ``hub.intake.InboundEvent`` and implements
the hub's outbound port it serves. Imports ``hub`` and ``crm_core`` only."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register every channel's webhooks, listeners and ports."""
    from channels import email, twilio_voice

    email.init_app(app)
    twilio_voice.init_app(app)
    from channels import webforms

    webforms.init_app(app)
    from channels import fax

    fax.init_app(app)
    # Mail for an e-mail-to-fax gateway address becomes a fax, not a ticket.
    from channels.email.ingest import register_gateway
    from channels.fax.service import receive_emailed_fax

    register_gateway(app, receive_emailed_fax)
