"""A message key passed as a parameter value, translated when the message is rendered."""


class Duration(int):
    """A number of hours, rendered in the unit a person would use: hours under two days, then days."""

    __slots__ = ()


class MsgKey(str):
    """`MsgKey("status.delivering")` renders as the translated text of that message."""

    __slots__ = ()
