"""The notifier: tells reporters what happens to their complaint (`lapor-es notify`).

A consumer like the projector (messages.py: which events, what text; outbox.py: the
notifications table, written in the same transaction as the consumer's tracking;
channels.py: e-mail over SMTP and an SMS gateway's webhook; service.py: consume, send,
retry, park). docs/notifications.md describes it for operators.
"""
