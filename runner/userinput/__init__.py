"""What users give, read strictly: ``file:`` URIs and the shape of input values."""
