"""The study application: the event model (event types, payload models, state folds,
authority) and the services (patients and capture, consent, clinical confirmation,
queries, releases) composed around one write kernel, `Kernel.append(signer, decide)`.
"""
