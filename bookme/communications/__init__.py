"""Communications: notification templates, the outbox, channels (email, SMS, WhatsApp)."""
