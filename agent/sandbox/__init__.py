"""The sandbox: a private virtual X display (Xvfb, RandR monitors) and the small Tk app every action is
exercised against."""
