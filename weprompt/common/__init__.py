"""Common ground, the bottom layer: errors, atomic writes, gzip-aware reading, the config loader, paths and
logging setup. Imports nothing first-party from any other layer (checked by import-linter)."""
