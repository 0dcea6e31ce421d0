"""Integrations of guardia into application frameworks (``guardia.contrib.django``)."""
