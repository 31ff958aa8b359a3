"""(placeholder: the job queue)"""


class Jobs:
    def __init__(self, library, access) -> None:
        self.library = library
        self.access = access

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass
