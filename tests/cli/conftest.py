from cli.cli_support import cli, make_data_fields, project

__all__ = ["cli", "make_data_fields", "project"]
