"""What people do on a ticket that reaches the customer: replies and approved drafts."""
