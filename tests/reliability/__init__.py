"""Reliability tests: loopctl against real servers that fail, stall, die, lie and get interrupted."""
