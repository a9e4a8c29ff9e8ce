"""Proactive messages: buyers' order watches, the agents' digest, and the paced sender they share.

    records.py  the contract (watches, the durable outbox of proactive messages) and its backends
    watching.py buyers' watches as a ChangeSink (bot/orders/changes.py): one message per (posting, event)
    texts.py    what a buyer is told for each change, in their language
    digest.py   the agents' periodic digest of postings at risk
    sender.py   the one sender of proactive messages, within Telegram's limits
"""
