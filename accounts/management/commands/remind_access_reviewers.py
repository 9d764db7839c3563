from accounts.commands import TenantCommand
from accounts.models import AccessReview
from accounts.services.reviews import review_reminders_send


class Command(TenantCommand):
    help = (
        "E-mail every reviewer of the tenant's open access reviews how many lines still wait "
        "for them (sent by the task worker). Run it, say, weekly."
    )

    def handle_tenant(self, tenant, actor, options):
        reviews = AccessReview.objects.administered_by(actor).filter(
            status=AccessReview.Status.OPEN
        )
        for review in reviews:
            review_reminders_send(actor=actor, review_pk=review.pk)
        self.stdout.write(f"reminded reviews={len(reviews)}")
