"""The SOAP adapter (spyne): the vendor's agent and DNIS endpoints."""
