"""The failure notifier (template.yaml: FailureNotifierFunction), the provider's OnFailure
destination: `app.py` answers FAILED for an invocation that failed without answering (out of
memory, a crash at start-up, the Lambda timeout) and removes the poll that request left."""
