"""The co-op's moderation by its admins: servers blocked, reports received and dealt with."""

from fedicoop.activitypub.runtime import Federation
from fedicoop.config import validate_domain
from fedicoop.errors import Invalid, NotFound
from fedicoop.storage.domain_blocks import DomainBlock, DomainBlockRepository
from fedicoop.storage.notifications import ReceivedReport, ReportRepository

MAX_REASON_CHARS = 500


async def domain_blocks(federation: Federation) -> list[DomainBlock]:
    """Return the blocked domains."""
    return await DomainBlockRepository(federation.instance.db).list()


async def block_domain(federation: Federation, domain: str, reason: str) -> str:
    """Block a server (and its subdomains); return the domain as stored."""
    try:
        host = validate_domain(domain.strip().removeprefix("https://").rstrip("/"))
    except Invalid as error:
        raise Invalid(error.message, field="domain") from None
    if host == federation.instance.domain.lower():
        raise Invalid("a co-op cannot block its own domain", field="domain")
    if len(reason) > MAX_REASON_CHARS:
        raise Invalid(f"the reason holds at most {MAX_REASON_CHARS} characters", field="reason")
    await DomainBlockRepository(federation.instance.db).add(host, reason.strip())
    # The inbox caches the blocks: without this the blocked server would still get through.
    federation.receiver.invalidate_blocks()
    return host


async def unblock_domain(federation: Federation, domain: str) -> None:
    """Lift a block."""
    if not await DomainBlockRepository(federation.instance.db).remove(domain.strip().lower()):
        raise NotFound(f"{domain} is not blocked")
    federation.receiver.invalidate_blocks()


async def received_reports(federation: Federation) -> list[ReceivedReport]:
    """Return the reports received (via Flag or from members), open ones first."""
    return await ReportRepository(federation.instance.db).received()


async def resolve_report(federation: Federation, report_id: int) -> None:
    """Mark a report as dealt with."""
    if not await ReportRepository(federation.instance.db).resolve(report_id):
        raise NotFound("no such open report")
