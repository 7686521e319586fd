"""Every CRM table, importable from one place (Alembic and the app load them all here)."""

from crm_core.models.attachments import Attachment
from crm_core.models.audit import AuditEntry
from crm_core.models.customers import (
    ContactPoint,
    Customer,
    CustomerRelation,
    CustomFieldDefinition,
    CustomFieldValue,
    RelationType,
    Tag,
    customer_tags,
)
from crm_core.models.interactions import Interaction
from crm_core.models.kb import KbArticle, KbArticleVersion, KbCategory
from crm_core.models.planning import (
    PlanningReminder,
    PlanningResource,
    PlanningTask,
    PlanningUserSettings,
    ResourceBooking,
    planning_attendees,
)
from crm_core.models.segments import Segment
from crm_core.models.service import (
    Complaint,
    OwnedProduct,
    Product,
    SalesDocument,
    SalesLine,
    ServiceContract,
    ServiceContractItem,
    TicketSubject,
    Warranty,
)
from crm_core.models.tickets import Ticket
from crm_core.models.users import ApiToken, Team, User, team_members

__all__ = [
    "ApiToken",
    "Attachment",
    "AuditEntry",
    "Complaint",
    "ContactPoint",
    "CustomFieldDefinition",
    "CustomFieldValue",
    "Customer",
    "CustomerRelation",
    "Interaction",
    "KbArticle",
    "KbArticleVersion",
    "KbCategory",
    "OwnedProduct",
    "PlanningReminder",
    "PlanningResource",
    "PlanningTask",
    "PlanningUserSettings",
    "Product",
    "RelationType",
    "ResourceBooking",
    "SalesDocument",
    "SalesLine",
    "Segment",
    "ServiceContract",
    "ServiceContractItem",
    "Tag",
    "Team",
    "Ticket",
    "TicketSubject",
    "User",
    "Warranty",
    "customer_tags",
    "planning_attendees",
    "team_members",
]
