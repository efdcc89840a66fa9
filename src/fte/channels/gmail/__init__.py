"""Gmail through the Gmail API: Pub/Sub push in, history sync, threaded replies, watch renewal."""
