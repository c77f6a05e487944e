"""What the feature job and the Lambdas share, without Spark: the manifest, paths, selection, output layout."""
