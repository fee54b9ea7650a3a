"""Calls: call control (sans-IO core, `control`) and the B2BUA shell (`b2bua`)."""
