"""Media: uploaded images decoded and re-encoded (images), stored on disk (files), recorded."""
