from django.apps import AppConfig


class DoctorConfig(AppConfig):
    name = "doctor"
    verbose_name = "Deployment checks (manage.py doctor)"

    def ready(self):
        from doctor import tasks  # noqa: F401 - registers doctor.echo in every process
