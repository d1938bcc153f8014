"""check/rules"""
