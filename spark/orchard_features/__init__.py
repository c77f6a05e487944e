"""Orchard's feature job: MobileNetV2 features and their PCA for a bucket of images, with Spark."""
