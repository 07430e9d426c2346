"""WhatsApp through the Twilio SDK: `whatsapp:+212…` addresses; free text inside the customer's
24-hour window, an approved template (`content_sid` + `ContentVariables`) outside it."""

from __future__ import annotations

import json

from bookme.communications.channels.base import Message
from bookme.communications.channels.sms import SmsChannel


class WhatsAppChannel(SmsChannel):
    prefix = "whatsapp:"

    def create_params(self, message: Message) -> dict[str, object]:
        if message.content_sid:
            return {
                "content_sid": message.content_sid,
                "content_variables": json.dumps(message.content_variables, ensure_ascii=False),
            }
        return {"body": message.text}
