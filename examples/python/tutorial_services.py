# Toil documentation example tutorial_services.py (a service whose start() value a child job
# receives through a promise), run on moil. Only the import lines differ from Toil's.
from runner import Job, Toil


class DemoService(Job.Service):

    def start(self, fileStore):
        return "loginCredentials"

    def check(self):
        return True

    def stop(self, fileStore):
        pass

j = Job()
s = DemoService()
loginCredentialsPromise = j.addService(s)

def dbFn(loginCredentials):
    pass

j.addChildFn(dbFn, loginCredentialsPromise)

if __name__=="__main__":
    options = Job.Runner.getDefaultOptions("./toilWorkflowRun")
    options.logLevel = "INFO"
    options.clean = "always"

    with Toil(options) as toil:
        toil.start(j)
