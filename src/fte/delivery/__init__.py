"""Delivery: every reply to a customer leaves through one queue, one sender, one breaker per
channel, and ends either sent or as a replayable dead letter."""
