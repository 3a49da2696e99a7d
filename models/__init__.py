"""The bundled sample models (digits MLP and CNN): definitions, trained weights, training script."""
