"""Importing this module declares pytest-terraform's fixture for the root ``complete`` (the tier's
recording folder in replay, the applied copy of examples/complete live: tests/terraform/plugin.py sets
--tf-mod-dir). Imported on first use, by tests/terraform/conftest.py: the plugin's ``terraform`` factory
needs the plugin configured, and reads the folder of the module that calls it."""

from pytest_terraform import terraform

from tests.terraform.recording import ROOT

# Teardown off: the destroy is a test of the tier, and the tier's fixture destroys what is left when that
# test did not run.
terraform(ROOT, scope="package", teardown=terraform.TEARDOWN_OFF)
