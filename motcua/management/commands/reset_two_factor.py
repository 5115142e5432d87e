"""``manage.py reset_two_factor <user name>``: removes a user's authenticator (lost phone)."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from motcua.twofactor import two_factor_reset


class Command(BaseCommand):
    help = (
        "Removes the two-factor devices of a user (lost or replaced phone): the next login asks "
        "for no code, or for a new enrolment with TWO_FACTOR=required. Logged."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument(
            "--by", default="", help="Who asked for it (kept in the log), e.g. a ticket number."
        )

    def handle(self, *args, username, by, **options):
        User = get_user_model()
        try:
            user = User._default_manager.get_by_natural_key(username)
        except User.DoesNotExist:
            raise CommandError(f"No user named {username!r}.") from None
        actor = "manage.py reset_two_factor" + (f" ({by})" if by else "")
        count = two_factor_reset(user=user, actor=actor)
        if count:
            self.stdout.write(f"Removed {count} two-factor device(s) of {username}.")
        else:
            self.stdout.write(f"{username} had no two-factor device.")
