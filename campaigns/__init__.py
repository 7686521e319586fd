"""Outbound campaigns: call lists, do-not-call list, calling windows, scripts and surveys, the
dialer (preview, progressive, predictive), dispositions, callbacks and results.
Imports ``hub`` and ``crm_core`` only."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the campaign screens and tasks."""
    from campaigns.core import init_core

    init_core(app)
    from campaigns.dialer import init_dialer

    init_dialer(app)
    _init_scripts_and_surveys(app)


def _init_scripts_and_surveys(app: Flask) -> None:
    """Scripts and surveys: pages, JSON API, the survey IVR's webhooks (signed by Twilio,
    so exempt from CSRF), the survey web form (through hub.forms) and the card section."""
    from campaigns import ivr, script_views, survey_api, survey_views
    from campaigns.survey_web import provide_form
    from campaigns.surveys import card_section
    from hub.cards import register_card_section
    from hub.forms import register_form_provider

    for blueprint in (survey_views.bp, survey_api.bp, script_views.bp, script_views.api, ivr.bp):
        app.register_blueprint(blueprint)
    csrf = app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(ivr.bp)
    register_form_provider(provide_form)
    register_card_section("surveys", card_section)
