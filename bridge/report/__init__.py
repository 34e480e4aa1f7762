"""Monthly per-customer SLA compliance and quota report."""
