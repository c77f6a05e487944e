# Shared by the Makefiles `sam build` runs for the functions and the layer built with `BuildMethod: makefile`
# (SAM runs target build-<LogicalId> of the Makefile in the resource's CodeUri, with ARTIFACTS_DIR set:
# https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/building-custom-runtimes.html).
# They copy this repository's packages, each from the folder of what it deploys to, into what Lambda receives.
REPOSITORY := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))..)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
# Wheels for Lambda's platform, whatever this machine is: "Creating a .zip deployment package with dependencies",
# https://docs.aws.amazon.com/lambda/latest/dg/python-package.html; at the versions the tests ran with
# (the constraints), without bytecode (Lambda compiles on import, as for what SAM's Python builder installs).
PIP_FOR_LAMBDA := $(PYTHON) -m pip install --quiet --disable-pip-version-check --platform manylinux2014_x86_64 \
	--implementation cp --python-version 3.11 --only-binary=:all: --upgrade --no-compile \
	--constraint "$(REPOSITORY)/requirements/constraints.txt"

# copy-folders DESTINATION FOLDER...: each folder (a path in this repository) under DESTINATION by its last name,
# its sources without bytecode.
define copy-folders
	mkdir -p "$(1)"
	$(foreach folder,$(2),tar -C "$(REPOSITORY)/$(dir $(folder))" --exclude=__pycache__ --exclude='*.pyc' \
		--exclude='*.egg-info' -cf - "$(notdir $(folder))" | tar -C "$(1)" -xf -;)
endef
