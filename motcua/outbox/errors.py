"""Errors providers raise to tell the outbox what to do with a message."""


class PermanentDeliveryError(Exception):
    """This message can never be delivered as it is (a malformed number, a payload the portal
    rejects): the outbox marks it ``dead`` at once instead of retrying. Any other exception
    from a provider means "not now" and the message is retried with back-off."""
