"""Modules that misbehave at import, standing in for hostile or broken plug-ins."""
