"""CRM services: the actions that own every write, and the read helpers around them."""
