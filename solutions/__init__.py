"""Reference answers for problem set 3, importable by tests, the autograder and the source notebooks' sync test."""
