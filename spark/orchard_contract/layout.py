"""What a finished run leaves under its output prefix, by name: shared by the job and the Lambdas
that check its outputs (which import this module alone: it needs neither Spark nor numpy)."""

SUCCESS_MARKER = "_SUCCESS"
MODEL_INFO_FILE = "model_info.json"  # under model_info/
OUTPUT_FOLDERS = (
    "features",
    "pca",
    "metadata",
    "model_info",
    "errors",
    "features_csv",
    "pca_csv",
    "report",
)
FEATURE_DIMENSION = 1280  # MobileNetV2, no top, average pooling
