"""Runtime: how a flow runs (Prefect or plain), the writer lock, recorded attempts and the serve
state file.
"""
