"""Microsoft drivers: the Graph API calendar driver and its Graph client."""
