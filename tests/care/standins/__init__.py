"""Local stand-ins for the notification providers (Twilio, Africa's Talking, Firebase Cloud
Messaging): small real HTTP servers on a loopback port that answer each provider's published
API the way the provider does, record what they received, and can be told to fail or stall.
"""

from tests.care.standins.africastalking import AfricasTalkingStandIn
from tests.care.standins.fcm import FcmStandIn, make_service_account
from tests.care.standins.server import Received, StandIn, closed_port_url
from tests.care.standins.twilio import TwilioStandIn

__all__ = [
    "AfricasTalkingStandIn",
    "FcmStandIn",
    "Received",
    "StandIn",
    "TwilioStandIn",
    "closed_port_url",
    "make_service_account",
]
