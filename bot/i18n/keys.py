"""A message key passed as a parameter value, translated when the message is rendered."""


class MsgKey(str):
    """`MsgKey("status.delivering")` renders as the translated text of that message."""

    __slots__ = ()
