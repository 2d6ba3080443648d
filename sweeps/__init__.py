"""The Hydra entry point and the life of a run: build, learn, record, resume or skip."""
