from accounts.commands import TenantCommand
from accounts.models import Employee
from accounts.services.reviews import access_review_start
from core.channels import Channel
from core.errors import InvalidInput


class Command(TenantCommand):
    help = (
        "Start an access review of the tenant: a snapshot of every active employee and API "
        "client and what each holds, shared out among the reviewers (tenant administrators)."
    )

    def add_command_arguments(self, parser):
        parser.add_argument("--name", default="", help="The review's name (default: the date).")
        parser.add_argument(
            "--reviewer",
            action="append",
            default=[],
            metavar="USERNAME",
            help="A tenant administrator who decides lines (repeat for several; default: the "
            "--actor, or nobody assigned).",
        )

    def handle_tenant(self, tenant, actor, options):
        names = options["reviewer"]
        reviewers = list(Employee.objects.in_tenant_of(actor).filter(username__in=names))
        unknown = sorted(set(names) - {reviewer.username for reviewer in reviewers})
        if unknown:
            raise InvalidInput(f"Unknown reviewer(s) in {tenant.code}: {', '.join(unknown)}.")
        review = access_review_start(
            actor=actor,
            channel=Channel.COMMAND,
            tenant=tenant,
            name=options["name"],
            reviewers=reviewers if names else None,
        )
        lines = review.lines.count()
        self.stdout.write(f"review={review.pk} lines={lines} status={review.status}")
