"""Background jobs run by a real ``db_worker`` process against the test database: one runs to
completion; one is killed mid-job, leaves whole batches only, and is resumed to the end."""

import signal
import subprocess
import time

import pytest

from customers.models import Customer, Job, JobStatus, RestrictionChange
from tests.factories import CustomerFactory
from tests.processes import environment, manage

pytestmark = pytest.mark.django_db(transaction=True)
CHANGELIST = "/admin/customers/customer/"


def start_worker(*arguments: str, **settings_environment: str) -> subprocess.Popen:
    return manage(
        "db_worker",
        "--no-reload",
        "--no-startup-delay",
        "--interval",
        "0.1",
        *arguments,
        env=environment(TASKS_BACKEND="django_tasks_db.DatabaseBackend", **settings_environment),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def finish(worker: subprocess.Popen, timeout: float = 120) -> None:
    _, stderr = worker.communicate(timeout=timeout)
    assert worker.returncode == 0, stderr.decode()[-2000:]


@pytest.fixture
def database_tasks(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    settings.BULK_JOB_THRESHOLD = 10


def start_assign_job(client, employee, target: str) -> Job:
    client.force_login(employee)
    page = list(Customer.objects.values_list("pk", flat=True)[:5])
    client.post(
        CHANGELIST,
        {
            "action": "assign_restriction",
            "_selected_action": page,
            "select_across": "1",
            "restriction": target,
            "confirm": "yes",
        },
    )
    return Job.objects.get()


def test_a_real_worker_runs_a_job_to_completion(
    tenant, restriction_manager, client, database_tasks
):
    CustomerFactory.create_batch(40, tenant=tenant, restriction="DE")
    job = start_assign_job(client, restriction_manager, "FR")
    assert job.status == JobStatus.QUEUED
    assert Customer.objects.filter(restriction="FR").count() == 0  # not in the request

    finish(start_worker("--batch", BULK_JOB_BATCH_SIZE="7"))

    job.refresh_from_db()
    assert (job.status, job.done, job.total, job.changed) == (JobStatus.SUCCEEDED, 40, 40, 40)
    assert job.message == "Restriction FR assigned: 40 changed, 0 already had it."
    assert Customer.objects.filter(restriction="FR").count() == 40
    assert RestrictionChange.objects.filter(new_value="FR", actor_name="mover").count() == 40


def test_a_killed_worker_leaves_whole_batches_and_the_job_resumes_to_the_end(
    tenant, restriction_manager, client, database_tasks, settings
):
    CustomerFactory.create_batch(60, tenant=tenant, restriction="DE")
    job = start_assign_job(client, restriction_manager, "US")
    worker = start_worker(BULK_JOB_BATCH_SIZE="4", BULK_JOB_BATCH_PAUSE="0.3")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.done >= 8:
            break
        time.sleep(0.05)
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=30)

    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING  # its worker died without a word
    assert 8 <= job.done < 60
    assert job.done % 4 == 0  # whole batches only
    moved = Customer.objects.filter(restriction="US").count()
    assert moved == job.done == job.changed
    assert RestrictionChange.objects.filter(new_value="US").count() == moved

    settings.BULK_JOB_STALE_SECONDS = 0  # the worker has been silent "long enough"
    client.post("/admin/customers/job/", {"action": "resume", "_selected_action": [job.pk]})
    finish(start_worker("--batch", BULK_JOB_BATCH_SIZE="4"))

    job.refresh_from_db()
    assert (job.status, job.done, job.total, job.changed) == (JobStatus.SUCCEEDED, 60, 60, 60)
    assert Customer.objects.filter(restriction="US").count() == 60
    assert RestrictionChange.objects.filter(new_value="US").count() == 60  # each exactly once
