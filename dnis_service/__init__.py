"""dnis-service: lends DNIS phone numbers to contact-center interactions."""
